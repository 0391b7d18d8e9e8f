"""The camera path: frame sources (push protocol, OpenCV), zxing-cpp decoding, a quality grade."""
