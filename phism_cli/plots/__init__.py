"""The pictures phism draws (`--plot`, `--split-plot`): matplotlib is imported only when one
is drawn, and a missing matplotlib is a one-line error (see `common.pyplot`)."""
