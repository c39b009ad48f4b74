# Read by `gunicorn src.predict_app:app` run from the repository root (the seminar's command).
# gunicorn 27 opens a control socket under ~/.gunicorn by default; the lab needs none.
control_socket_disable = True
