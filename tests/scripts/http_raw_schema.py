"""@rawhttp and @input_schema on the same run(): the server must refuse to start."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema

from azureml_inference_server_http.api.aml_request import rawhttp


def init():
    pass


@rawhttp
@input_schema("request", StandardPythonParameterType("x"))
def run(request):
    return "never"
