// ChronicleAMQP: the RabbitMQ Transport (in progress).
