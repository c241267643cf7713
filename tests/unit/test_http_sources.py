"""What every HTTP evidence source checks before it sends anything (zkjanitor/sources/http_client.py)."""

from __future__ import annotations

import pytest

from zkjanitor.errors import ConfigError
from zkjanitor.sources.livy import LivySource
from zkjanitor.sources.spark_history import SparkHistorySource
from zkjanitor.sources.yarn import YarnSource
from zkjanitor.sources.yarn_timeline import YarnTimelineSource

URL = "http://127.0.0.1:1"  # never asked: the options are refused first

SOURCES = {
    "YARN": lambda **options: YarnSource([URL], **options),
    "YARN Timeline": lambda **options: YarnTimelineSource(URL, **options),
    "Spark History Server": lambda **options: SparkHistorySource([URL], **options),
    "Livy": lambda **options: LivySource([URL], **options),
}


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_timeout_that_is_not_positive_is_refused_naming_the_server(name):
    with pytest.raises(ConfigError, match=f"^the {name} timeout must be positive$"):
        SOURCES[name](timeout=0)


@pytest.mark.parametrize("name", list(SOURCES))
def test_negative_retries_are_refused_naming_the_server(name):
    with pytest.raises(ConfigError, match=f"^{name} retries must be >= 0$"):
        SOURCES[name](retries=-1)
