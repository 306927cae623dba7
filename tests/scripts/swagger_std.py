from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType

def init():
    pass

@input_schema('text', StandardPythonParameterType("hello"))
@input_schema('count', StandardPythonParameterType(1))
@output_schema(StandardPythonParameterType(["hello"]))
def run(text, count):
    return [text] * count
