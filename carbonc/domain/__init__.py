"""The payment domain that both the compiler and the runtime speak: its vocabulary (entity kinds
and states, verbs, signature modes, neutral events, metrics), its units (currencies, durations,
ratios), its values and their arithmetic, and its operators. Imports nothing else of carbonc."""
