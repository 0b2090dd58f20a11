"""nmt: an LSTM encoder-decoder translation toolkit on Keras 3 and TensorFlow."""

import os


def prefer_onednn() -> None:
    """Use TensorFlow's oneDNN kernels unless the environment says otherwise.

    TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; on
    AVX2-only CPUs they are faster too (AMD EPYC Zen 3: training +11%, beam search +20%;
    docs/tried.md).  Only effective before TensorFlow is imported, hence called here."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def one_blas_thread() -> None:
    """NumPy's matrix products here are the NumPy translator's (nmt/quick.py): a few rows by
    a large weight matrix, bound by memory, where OpenBLAS's second thread costs more than it
    gives (AMD EPYC Zen 3, busy machine: beam 5 at 1.8 against 4.2 sentences/s).  Only
    effective before NumPy is imported; ``OPENBLAS_NUM_THREADS`` in the environment wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


prefer_onednn()
one_blas_thread()

__version__ = "0.1.0"
