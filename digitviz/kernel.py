"""The linear model's arithmetic for K runs at once, with each run's numbers independent of K.

A block of K runs keeps its weights as one (K, 784) matrix, one row per run. A matrix library would multiply
the batch by all K columns at once, but its kernels pick their blocking, and so the order in which they add up
a dot product, from the matrix's shape: a run's logits change in the last bits when its companions change. Here
every sum has one fixed order, whatever K is:

- a logit sums its 784 pixels' products in pixel order, then adds the bias;
- a weight's gradient sums its batch rows' products in row order, and so does the bias's.

Each `s = s + x * w` is a float32 multiply then a float32 add (numba adds no fused multiply-add or reordering
unless told to), so grouping runs in pairs, or pixels four at a time, changes how often a partial sum goes to
memory and back (exactly), never which additions happen in which order. That is what makes a run's records the
same bits alone (a block of one, `engine.train`) or among 100 companions.

The loops are written so that LLVM vectorizes the innermost one over contiguous rows (forward, on the
transposed batch) or pixels (backward), and each load of the batch serves two runs.
"""
import numpy as np
from numba import njit

PIXELS = 28 * 28
PANEL = 256  # images a column panel holds: the lesson's batch size, so its batches are whole panels
STEP = 4  # pixels (forward) or rows (backward) added per pass over a run's partial sums: fewer loads and stores
LOSS_CODES = {"mnist_loss": 0, "first_attempt": 1, "bce": 2}


def _jit(func):
    """njit, compiled once to numba's on-disk cache; where no cache directory is writable, compiled per process."""
    try:
        return njit(cache=True, nogil=True, boundscheck=False)(func)
    except RuntimeError:  # numba found nowhere to write its cache: not beside the package, nor in the user's home
        return njit(nogil=True, boundscheck=False)(func)


@_jit
def _forward_run(xT, c0, c1, w, z):
    """z += (x @ w) over columns c0:c1 of xT (784, n): pixel p's product added in pixel order."""
    n = c1 - c0
    for p in range(0, PIXELS, STEP):
        w0, w1, w2, w3 = w[p], w[p + 1], w[p + 2], w[p + 3]
        x0, x1, x2, x3 = xT[p, c0:c1], xT[p + 1, c0:c1], xT[p + 2, c0:c1], xT[p + 3, c0:c1]
        for i in range(n):
            s = z[i]
            s = s + x0[i] * w0
            s = s + x1[i] * w1
            s = s + x2[i] * w2
            s = s + x3[i] * w3
            z[i] = s


@_jit
def _forward_pair(xT, c0, c1, wa, wb, za, zb):
    """_forward_run for two runs, each load of x serving both: the same additions, in the same order."""
    n = c1 - c0
    for p in range(0, PIXELS, STEP):
        a0, a1, a2, a3 = wa[p], wa[p + 1], wa[p + 2], wa[p + 3]
        b0, b1, b2, b3 = wb[p], wb[p + 1], wb[p + 2], wb[p + 3]
        x0, x1, x2, x3 = xT[p, c0:c1], xT[p + 1, c0:c1], xT[p + 2, c0:c1], xT[p + 3, c0:c1]
        for i in range(n):
            s, t = za[i], zb[i]
            s = s + x0[i] * a0
            t = t + x0[i] * b0
            s = s + x1[i] * a1
            t = t + x1[i] * b1
            s = s + x2[i] * a2
            t = t + x2[i] * b2
            s = s + x3[i] * a3
            t = t + x3[i] * b3
            za[i], zb[i] = s, t


@_jit
def forward(xP, c0, c1, W, b, Z, z0):
    """Z[k, z0:z0 + n] = x @ W[k] + b[k] for the images in columns c0:c1 of panels xP; W is (K, 784).

    xP holds the images' columns in panels (m, 784, width): a batch's pixels lie together, so they stream in
    order from memory, which a (784, N) array's 784 short rows would not."""
    n, K, width = c1 - c0, W.shape[0], xP.shape[2]
    Z[:, z0:z0 + n] = 0
    c = c0
    while c < c1:  # one panel at a time
        panel, lo = c // width, c % width
        hi = min(width, lo + c1 - c)
        za = z0 + c - c0
        zb = za + hi - lo
        for k in range(0, K - 1, 2):
            _forward_pair(xP[panel], lo, hi, W[k], W[k + 1], Z[k, za:zb], Z[k + 1, za:zb])
        if K % 2:
            _forward_run(xP[panel], lo, hi, W[K - 1], Z[K - 1, za:zb])
        c += hi - lo
    for k in range(K):
        for i in range(z0, z0 + n):
            Z[k, i] = Z[k, i] + b[k]


@_jit
def _backward_run(x, r0, r1, d, g):
    """g += x.T @ d for rows r0:r1 of x (N, 784): row i's product added in row order."""
    i = r0
    while i + STEP <= r1:
        d0, d1, d2, d3 = d[i - r0], d[i - r0 + 1], d[i - r0 + 2], d[i - r0 + 3]
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        for p in range(PIXELS):
            s = g[p]
            s = s + x0[p] * d0
            s = s + x1[p] * d1
            s = s + x2[p] * d2
            s = s + x3[p] * d3
            g[p] = s
        i += STEP
    for j in range(i, r1):
        dj, xj = d[j - r0], x[j]
        for p in range(PIXELS):
            g[p] = g[p] + xj[p] * dj


@_jit
def _backward_pair(x, r0, r1, da, db, ga, gb):
    """_backward_run for two runs, each load of x serving both: the same additions, in the same order."""
    i = r0
    while i + STEP <= r1:
        a0, a1, a2, a3 = da[i - r0], da[i - r0 + 1], da[i - r0 + 2], da[i - r0 + 3]
        b0, b1, b2, b3 = db[i - r0], db[i - r0 + 1], db[i - r0 + 2], db[i - r0 + 3]
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        for p in range(PIXELS):
            s, t = ga[p], gb[p]
            s = s + x0[p] * a0
            t = t + x0[p] * b0
            s = s + x1[p] * a1
            t = t + x1[p] * b1
            s = s + x2[p] * a2
            t = t + x2[p] * b2
            s = s + x3[p] * a3
            t = t + x3[p] * b3
            ga[p], gb[p] = s, t
        i += STEP
    for j in range(i, r1):
        aj, bj, xj = da[j - r0], db[j - r0], x[j]
        for p in range(PIXELS):
            ga[p] = ga[p] + xj[p] * aj
            gb[p] = gb[p] + xj[p] * bj


@_jit
def backward(x, r0, r1, dZ, G, gb):
    """G[k] = x.T @ dZ[k] and gb[k] = sum(dZ[k]) over rows r0:r1 of x, each summed in row order."""
    K = G.shape[0]
    G[:] = 0
    for k in range(0, K - 1, 2):
        _backward_pair(x, r0, r1, dZ[k], dZ[k + 1], G[k], G[k + 1])
    if K % 2:
        _backward_run(x, r0, r1, dZ[K - 1], G[K - 1])
    for k in range(K):
        s = np.float32(0)
        for i in range(r1 - r0):
            s = s + dZ[k, i]
        gb[k] = s


@_jit
def _sigmoid(z):
    return np.float32(1) / (np.float32(1) + np.exp(-z))


def column_panels(x):
    """The images x (N, 784) as columns, in panels (m, 784, PANEL); the last panel padded with zeros."""
    m = -(-len(x) // PANEL)
    xP = np.zeros((m * PANEL, PIXELS), np.float32)
    xP[:len(x)] = x
    return np.ascontiguousarray(xP.reshape(m, PANEL, PIXELS).transpose(0, 2, 1))


@_jit
def _grad_and_score(z, y, signed, n, loss):
    """For one logit: d(loss)/dz (the closed forms in losses.loss_grad), its loss (as losses.py defines it, bce
    in the overflow-free form torch uses), and 1 if batch_accuracy calls it right (a 3 when the sigmoid is over
    0.5). One sigmoid serves all three."""
    p = _sigmoid(z)
    right = np.float64((p > np.float32(0.5)) == (y == 1))
    if loss == 0:  # mnist_loss: sigmoid' times the signed target
        return p * (np.float32(1) - p) * signed, np.float64(np.float32(1) - p if y == 1 else p), right
    if loss == 1:  # first_attempt: the signed target alone
        return signed, np.float64(np.float32(1) - z if y == 1 else z), right
    z64 = np.float64(z)  # bce: sigmoid minus target, over the batch size
    return (p - y) / np.float32(n), max(z64, 0.0) - z64 * y + np.log1p(np.exp(-abs(z64))), right


@_jit
def loss_grads(Z, z0, n, y, signed, loss, dZ, totals):
    """dZ[k, i] = d(loss)/dz for run k's batch logits Z[k, z0:z0 + n]; adds their losses and right answers to
    totals[k], in row order (float64)."""
    for k in range(Z.shape[0]):
        total, right = totals[k, 0], totals[k, 1]
        for i in range(n):
            dZ[k, i], lost, r = _grad_and_score(Z[k, z0 + i], y[z0 + i], signed[z0 + i], n, loss)
            total, right = total + lost, right + r
        totals[k, 0], totals[k, 1] = total, right


@_jit
def scores(Z, y, loss, totals):
    """totals[k] = (summed loss, right answers) of run k's logits Z[k] against targets y, in row order."""
    totals[:] = 0
    for k in range(Z.shape[0]):
        for i in range(Z.shape[1]):
            _, lost, r = _grad_and_score(Z[k, i], y[i], np.float32(0), 1, loss)
            totals[k, 0] += lost
            totals[k, 1] += r


@_jit
def sgd_step(W, b, G, gb, lr):
    """Each run's own step: W[k] -= lr[k] * G[k], b[k] -= lr[k] * gb[k]."""
    for k in range(W.shape[0]):
        for p in range(PIXELS):
            W[k, p] = W[k, p] - lr[k] * G[k, p]
        b[k] = b[k] - lr[k] * gb[k]


@_jit
def _gather(x, order, i0, i1, xb, xbP):
    """The shuffled batch order[i0:i1] of x, as rows (xb) and as columns (xbP, one panel)."""
    for j in range(i1 - i0):
        row = x[order[i0 + j]]
        xb[j] = row
        xbP[0, :, j] = row


@_jit
def train_epoch(x, xP, order, y, signed, W, b, lr, loss, bs, Z, totals, dZ, G, gb, xb, xbP):
    """One epoch of SGD for every run of the block; Z gets each batch's logits before its step (K, N), totals
    their summed losses and right answers (K, 2).

    Without a shuffle (order empty) batches are slices of x and xP; with one, they are gathered into xb, xbP.
    y and signed are in the epoch's order."""
    N = x.shape[0]
    totals[:] = 0
    for i0 in range(0, N, bs):
        i1 = min(N, i0 + bs)
        if order.size == 0:
            forward(xP, i0, i1, W, b, Z, i0)
            loss_grads(Z, i0, i1 - i0, y, signed, loss, dZ, totals)
            backward(x, i0, i1, dZ, G, gb)
        else:
            _gather(x, order, i0, i1, xb, xbP)
            forward(xbP, 0, i1 - i0, W, b, Z, i0)
            loss_grads(Z, i0, i1 - i0, y, signed, loss, dZ, totals)
            backward(xb, 0, i1 - i0, dZ, G, gb)
        sgd_step(W, b, G, gb, lr)
