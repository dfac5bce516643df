"""The cloud loop: the message contract, S3 and SQS, one job end to end, the queue worker and batch mode."""
