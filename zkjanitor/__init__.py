"""zkjanitor: find and safely prune dead Apache Livy sessions in ZooKeeper's recovery store."""

__version__ = "0.1.0"
