"""The authorization decision: pure, table-driven, explainable.

``requirements`` says what an operation needs, ``roles`` what a person may do, ``principal``
and ``resource`` describe who asks for what (built by the service layer from current data),
and ``policy.decide`` alone turns them into allow / 401 / 404 / 403 with a reason.
"""
