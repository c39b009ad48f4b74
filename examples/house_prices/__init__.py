"""A scikit-learn house-price model behind Flask (flask_app.py) and FastAPI (fastapi_app.py).

The request is a batch of rows, so its size is the number of rows. See README.md.
"""
