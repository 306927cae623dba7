"""scoreserver ray's deployment options from the Settings (Ray itself is not needed here)."""

from __future__ import annotations

from scoreserver.integrations.ray import deployment_options
from scoreserver.settings import Settings


def test_fixed_replicas_and_cpus_per_replica() -> None:
    settings = Settings.from_sources(
        {}, {"SCORESERVER_RAY_REPLICAS": "3", "SCORESERVER_RAY_NUM_CPUS": "0.5"}
    )
    options = deployment_options(settings)
    assert options["num_replicas"] == 3
    assert options["ray_actor_options"] == {"num_cpus": 0.5}
    assert "autoscaling_config" not in options


def test_autoscaling_between_the_replicas_and_the_maximum() -> None:
    settings = Settings.from_sources(
        {"ray_replicas": 2, "ray_max_replicas": 6}, {"SCORESERVER_CONCURRENCY": "2"}
    )
    options = deployment_options(settings)
    assert options["autoscaling_config"] == {
        "min_replicas": 2,
        "max_replicas": 6,
        "target_ongoing_requests": 2,
    }
    assert "num_replicas" not in options
    assert options["max_ongoing_requests"] == 100
