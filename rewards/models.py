"""Rewards, qualification and fraud (the reward-pipeline issue fills this app)."""
