"""Analytics over the city's history: streaming anomaly detection and its evaluation (NAB)."""
