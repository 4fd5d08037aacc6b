"""A demo merchant: a webhook handler for Razorpay and Stripe with a state API, and switchable bugs."""
