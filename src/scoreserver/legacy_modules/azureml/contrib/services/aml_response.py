"""``from azureml.contrib.services.aml_response import AMLResponse``.

The same class as ``azureml_inference_server_http.api.aml_response.AMLResponse``: the installed
reference's when it is present, scoreserver's otherwise.
"""

from azureml_inference_server_http.api.aml_response import AMLResponse

__all__ = ["AMLResponse"]
