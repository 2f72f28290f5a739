"""The transfer advisor's pure core (no Django): frozen features, transferability estimators, a from-scratch
baseline and the ranking of candidates. The Django side (evaluation/transfer_services.py) feeds it plain values.
"""
