"""ZooKeeper access: connection, fast reads, batched deletes, locking."""
