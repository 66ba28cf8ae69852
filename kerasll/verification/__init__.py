"""Verified robust accuracy in L∞ by bound propagation (IBP, CROWN): the lower end of every L∞ number.

    >>> kl.verify(model, x, y, eps=0.1, method="crown").verified_accuracy
"""

from kerasll.verification.verify import METHODS, VerifyResult, verify

__all__ = ["METHODS", "VerifyResult", "verify"]
