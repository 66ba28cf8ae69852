"""Certified robustness: randomized smoothing's CERTIFY and PREDICT (`smoothing`, Cohen et al. 2019) and
its per-image measure over resumable chunks (`measure`). The zoo's `kerasll certify` wiring is
`kerasll.zoo.certification`; the exact binomial statistics are `kerasll.stats`."""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    **dict.fromkeys(["ABSTAIN", "RADII", "CertifyResult", "certify", "predict", "sample_counts"],
                    "kerasll.certification.smoothing"),
    **dict.fromkeys(["CERTIFY_STAGE", "CertifyMeasure", "certify_records"], "kerasll.certification.measure"),
})
