//! Rendering findings as text (ok / warn / error marks, why:, fix:) or JSON.
