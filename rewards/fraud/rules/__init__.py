"""One module per fraud rule; `rewards.fraud.registry` lists them."""
