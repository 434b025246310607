"""Alert rules, their pure evaluation, the state machine, notifications and notifiers."""
