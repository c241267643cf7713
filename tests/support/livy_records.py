"""Session records as each Livy release writes them (docs/dev/livy-state-store.md 2.4, 2.5).

Constructed examples, not captured data; ``…`` in the doc's secrets is replaced
by made-up hex so the records are plain ASCII.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from zkjanitor.model import SessionType, Znode

RSC_SECRET = "5a3c9e71d2b04f68a1c3e5f7"
RSC_CLIENT_ID = "0b6f0c1e-6a55-4c1e-9a0e-2f9d0f7c1b22"
RSC_URI = f"rsc://{RSC_CLIENT_ID}:{RSC_SECRET}@10.1.2.3:39127"


class Sample(NamedTuple):
    """One record and what zkjanitor must read from it."""

    label: str
    type: SessionType
    id: int
    json: str
    app_id: Optional[str]
    app_tag: str
    owner: Optional[str]
    proxy_user: Optional[str]
    name: Optional[str]
    kind: Optional[str]
    livy_version: str


SAMPLES = [
    Sample(
        "batch 0.3-0.5",
        SessionType.BATCH,
        41,
        '{"id":41,"appId":"application_1712345678901_0042","appTag":"livy-batch-41-Xq3kP9aZ",'
        '"owner":"alice","proxyUser":null,"version":1}',
        "application_1712345678901_0042", "livy-batch-41-Xq3kP9aZ", "alice", None, None, None,
        "0.3-0.5",
    ),
    Sample(
        "batch 0.6-0.8 just created",
        SessionType.BATCH,
        41,
        '{"id":41,"name":null,"appId":null,"appTag":"livy-batch-41-Xq3kP9aZ","owner":"alice",'
        '"proxyUser":"etl","version":1}',
        None, "livy-batch-41-Xq3kP9aZ", "alice", "etl", None, None, "0.6+",
    ),
    Sample(
        "batch 0.9",
        SessionType.BATCH,
        41,
        '{"id":41,"name":"nightly-etl","appId":"application_1712345678901_0042",'
        '"appTag":"livy-batch-41-xq3kp9az","owner":"alice","proxyUser":"etl","version":1}',
        "application_1712345678901_0042", "livy-batch-41-xq3kp9az", "alice", "etl",
        "nightly-etl", None, "0.6+",
    ),
    Sample(
        "batch 0.9 kubernetes",
        SessionType.BATCH,
        5,
        '{"id":5,"name":null,"appId":"spark-3f9c2a1b8e4d4a3f9b0e6a2c7d4e5f91",'
        '"appTag":"livy-batch-5-k2m9x0qa","owner":null,"proxyUser":null,"version":1}',
        "spark-3f9c2a1b8e4d4a3f9b0e6a2c7d4e5f91", "livy-batch-5-k2m9x0qa", None, None, None,
        None, "0.6+",
    ),
    Sample(
        "batch legacy with state field",
        SessionType.BATCH,
        408107,
        '{"id":408107,"appId":"application_1541532370353_1465148","state":"running",'
        '"appTag":"livy-batch-408107-2jAOFzDy","owner":"batch_admin","proxyUser":"batch_opts",'
        '"version":1}',
        "application_1541532370353_1465148", "livy-batch-408107-2jAOFzDy", "batch_admin",
        "batch_opts", None, None, "0.3-0.5",
    ),
    Sample(
        "interactive 0.4 pyspark3",
        SessionType.INTERACTIVE,
        3,
        '{"id":3,"appId":"application_1712345678901_0007","appTag":"livy-session-3-aB9dE2fG",'
        '"kind":"pyspark3","heartbeatTimeoutS":0,"owner":"bob","proxyUser":null,'
        f'"rscDriverUri":"{RSC_URI}","version":1}}',
        "application_1712345678901_0007", "livy-session-3-aB9dE2fG", "bob", None, None,
        "pyspark3", "0.3-0.4",
    ),
    Sample(
        "interactive 0.4 pyspark",
        SessionType.INTERACTIVE,
        3,
        '{"id":3,"appId":"application_1712345678901_0007","appTag":"livy-session-3-aB9dE2fG",'
        '"kind":"pyspark","heartbeatTimeoutS":0,"owner":"bob","proxyUser":null,'
        f'"rscDriverUri":"{RSC_URI}","version":1}}',
        "application_1712345678901_0007", "livy-session-3-aB9dE2fG", "bob", None, None,
        "pyspark", "0.3-0.5",
    ),
    Sample(
        "interactive 0.5 shared",
        SessionType.INTERACTIVE,
        3,
        '{"id":3,"appId":"application_1712345678901_0007","appTag":"livy-session-3-aB9dE2fG",'
        '"kind":"shared","heartbeatTimeoutS":0,"owner":"bob","proxyUser":null,'
        '"rscDriverUri":null,"version":1}',
        "application_1712345678901_0007", "livy-session-3-aB9dE2fG", "bob", None, None,
        "shared", "0.3-0.5",
    ),
    Sample(
        "interactive 0.6-0.7",
        SessionType.INTERACTIVE,
        3,
        '{"id":3,"name":"nb-bob","appId":"application_1712345678901_0007",'
        '"appTag":"livy-session-3-aB9dE2fG","kind":"sql","heartbeatTimeoutS":0,"owner":"bob",'
        f'"proxyUser":null,"rscDriverUri":"{RSC_URI}","version":1}}',
        "application_1712345678901_0007", "livy-session-3-aB9dE2fG", "bob", None, "nb-bob",
        "sql", "0.6-0.7",
    ),
    Sample(
        "interactive 0.8",
        SessionType.INTERACTIVE,
        3,
        '{"id":3,"name":"nb-bob","appId":null,"appTag":"livy-session-3-aB9dE2fG","kind":"shared",'
        '"heartbeatTimeoutS":60,"owner":"bob","ttl":null,"driverMemory":"4g","driverCores":null,'
        '"executorMemory":null,"executorCores":null,'
        '"conf":{"spark.dynamicAllocation.enabled":"true"},"archives":[],"files":[],"jars":[],'
        '"numExecutors":null,"pyFiles":[],"queue":"default","proxyUser":"bob",'
        '"rscDriverUri":null,"version":1}',
        None, "livy-session-3-aB9dE2fG", "bob", "bob", "nb-bob", "shared", "0.8",
    ),
    Sample(
        "interactive 0.9",
        SessionType.INTERACTIVE,
        3,
        '{"id":3,"name":null,"appId":"application_1712345678901_0007",'
        '"appTag":"livy-session-3-ab9de2fg","kind":"spark","heartbeatTimeoutS":0,"owner":"bob",'
        '"ttl":"8h","idleTimeout":"30m","driverMemory":null,"driverCores":null,'
        '"executorMemory":null,"executorCores":null,"conf":{"spark.hadoop.fs.s3a.secret.key":'
        '"hunter2"},"archives":[],"files":[],"jars":[],"numExecutors":null,"pyFiles":[],'
        f'"queue":null,"proxyUser":null,"rscDriverUri":"{RSC_URI}","version":1}}',
        "application_1712345678901_0007", "livy-session-3-ab9de2fg", "bob", None, None, "spark",
        "0.9+",
    ),
]


def znode_for(
    session_type: SessionType, name: str, data: bytes, version: int = 4
) -> Znode:
    """A Znode under the default prefix, with fixed, distinct stat values."""
    return Znode(f"/livy/v1/{session_type.value}/{name}", data, version, 1_000, 2_000)
