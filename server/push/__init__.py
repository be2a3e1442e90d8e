"""Web Push: VAPID keys, browser subscriptions, the delivery queue and the sender (pywebpush)."""
