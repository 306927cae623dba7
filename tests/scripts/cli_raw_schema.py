"""@rawhttp together with @input_schema: refused at start-up."""

from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema

from azureml_inference_server_http.api.aml_request import rawhttp


def init():
    pass


@rawhttp
@input_schema("data", StandardPythonParameterType(1))
def run(data):
    return data
