"""``from azureml.contrib.services.aml_request import rawhttp, AMLRequest``.

The same objects as ``azureml_inference_server_http.api.aml_request``: the installed reference's when
it is present (this directory comes after site-packages on sys.path), scoreserver's otherwise.
"""

from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]
