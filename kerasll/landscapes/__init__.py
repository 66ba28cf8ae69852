"""The paper's measurements of log p̃(x) around inputs (docs/method.md): the directions to look along
(`directions`), the lattice of points on them (`lattice`), the landscapes and histograms drawn from them
(`landscape`), and the flatness score Φ that summarises them (`flatness`)."""
