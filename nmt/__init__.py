"""nmt: an LSTM encoder-decoder translation toolkit on Keras 3 and TensorFlow."""

import os


def prefer_onednn() -> None:
    """Use TensorFlow's oneDNN kernels unless the environment says otherwise.

    TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; on
    AVX2-only CPUs they are faster too (AMD EPYC Zen 3: training +11%, beam search +20%;
    docs/tried.md).  Only effective before TensorFlow is imported, hence called here."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


prefer_onednn()

__version__ = "0.1.0"
