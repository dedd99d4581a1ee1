"""A sample of the adversarial campaign (``python -m bench adversarial`` sends 20,000):
no reset, no timeout, no 5xx and no answer that is not DynamoDB's, and the canary item
unchanged."""

from __future__ import annotations

from bench.adversarial import SERVER_ARGS, Campaign, Signer, canary_intact, prepare
from dynovault.testing.processes import ServerProcess


def test_a_sample_of_the_campaign_gets_only_dynamodb_answers(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=SERVER_ARGS).start()
    try:
        netloc = f"127.0.0.1:{server.port}"
        prepare(Signer(netloc), server.port)
        campaign = Campaign(requests=400, workers=4, seed=7)
        campaign.run(server.port, netloc)
        assert campaign.failures() == 0, (campaign.table(), campaign.examples)
        assert campaign.totals()["ok"] > 0
        assert canary_intact(server.port, netloc)
        assert server.process.poll() is None
    finally:
        server.stop()
