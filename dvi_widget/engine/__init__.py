"""The DVI engine: boundary points, complex, layout, vis model, fit, landscape, metrics."""
