"""The seminar's names for its functions, used in file names and headings."""

# The seed names its functions and logs after these, e.g. log/cpu_multithread_dev.txt.
SEED_FUNCTION_NAMES = {
    "io": "io_bounded",
    "cpu": "cpu_bounded",
    "numpy": "cpu_multithread",
    "model": "model",
}
# The seed's function names, shown in reports beside each run.
SEED_FUNCTIONS = {
    "io": "predict_io_bounded",
    "cpu": "predict_cpu_bounded",
    "numpy": "predict_cpu_multithread",
    "model": "model.predict",
}
