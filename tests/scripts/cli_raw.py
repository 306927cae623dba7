"""@rawhttp run(request), wrapped by another decorator that keeps __wrapped__."""

import functools

from azureml_inference_server_http.api.aml_request import rawhttp


def logged(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def init():
    pass


@logged
@rawhttp
def run(request):
    return {"method": request.method}
