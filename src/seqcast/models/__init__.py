"""The networks (torch and a numpy forward pass), the one training loop, thread and process tuning."""
