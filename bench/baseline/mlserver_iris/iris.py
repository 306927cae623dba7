"""B1 for MLServer: the same iris model file; MLServer's adaptive batching (model-settings.json)
merges concurrent requests into one predict()."""

import os
from pathlib import Path

import joblib
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class Iris(MLModel):
    async def load(self) -> bool:
        self._model = joblib.load(Path(os.environ["BENCH_MODEL_DIR"]) / "model.joblib")
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0])
        labels = self._model.predict(rows)
        return InferenceResponse(
            model_name=self.name, outputs=[NumpyCodec.encode_output("output-0", labels)]
        )
