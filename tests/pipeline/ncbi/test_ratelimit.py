

def test_services_never_share_a_budget_even_at_the_same_rate() -> None:
    from litwatch.pipeline.ncbi.ratelimit import shared_rate_limiter

    assert shared_rate_limiter(7.0) is shared_rate_limiter(7.0)  # NCBI clients of one process share theirs
    assert shared_rate_limiter(7.0, service="registry") is not shared_rate_limiter(7.0)
    assert shared_rate_limiter(7.0, service="crossref") is not shared_rate_limiter(7.0, service="registry")
