"""Small scenarios the executor's tests run, written out once."""

#: Ten paid orders (30 messages), a forged signature of every basic kind among them, never retried.
FORGERIES = """
scenario forgeries {
  param n = 10
  seed 3
  phase p {
    create orders count n amount INR 100 method card
    pay each order { captured 100% }
  }
  deliver {
    signature valid 70%
    signature missing 10%
    signature corrupted 10%
    signature wrong_secret 10%
    retry none
  }
  expect orders == n severity high
  expect deliveries.mismatched == 0 severity critical
}
"""

#: One message per order (two orders), never retried: what the misbehaving-endpoint tests need.
TINY = """
scenario tiny {
  param n = 2
  phase p {
    create orders count n amount INR 100 method card
    pay each order { failed 100% code BAD_REQUEST_ERROR reason payment_declined }
  }
  deliver { retry none }
}
"""
