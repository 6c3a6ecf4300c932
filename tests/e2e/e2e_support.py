"""What the Python whole-program tests share: reading the netpulse binary from the command line."""
import os


def binary_from_argv(argv):
    """(binary, the other arguments): `--binary PATH` taken out of argv (else $NETPULSE_BINARY),
    made absolute; None when neither is given."""
    argv = list(argv)
    binary = None
    if "--binary" in argv:
        i = argv.index("--binary")
        binary = argv[i + 1]
        del argv[i:i + 2]
    else:
        binary = os.environ.get("NETPULSE_BINARY")
    return (os.path.abspath(binary) if binary else None), argv
