"""The typed intermediate representation of `.carbon` programs (see `carbonc.ir.nodes`)."""
