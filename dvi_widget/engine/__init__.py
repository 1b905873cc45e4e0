"""The DVI engine: the stages (boundary, complex, layout, model, train, landscape, metrics), one
epoch through them (pipeline), the fitted state (embedding), the fit folder (store, resume) and
the estimator ``DVI`` (fit)."""
