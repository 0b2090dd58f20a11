"""nmt: an LSTM encoder-decoder translation toolkit on Keras 3 and TensorFlow."""

__version__ = "0.1.0"
