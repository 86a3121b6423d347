"""MNIST (LeCun et al. 1998): 70,000 handwritten digits, 28×28 grey; the shipped models' first dataset."""
from .idx import IdxDataset

MNIST = IdxDataset(
    name="mnist",
    title="MNIST",
    shape=(1, 28, 28),
    classes=tuple(str(d) for d in range(10)),
    folder="MNIST",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
)
