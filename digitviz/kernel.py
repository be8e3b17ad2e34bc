"""The linear, softmax and two-layer models' arithmetic for K runs at once, with each run's numbers independent of K.

A block of K runs keeps its weights as one (K, 784) matrix, one row per run (ten for the softmax model: a row per
digit; thirty for the two-layer net: a row per hidden unit, with its output layer in a small matrix of its own,
the block's head). A matrix library would multiply the batch by all K columns at once, but its kernels pick their
blocking, and so the order in which they add up a dot product, from the matrix's shape: a run's logits change in
the last bits when its companions change. Here every sum has one fixed order, whatever K is:

- a logit sums its pixels' products in 16 lanes (lane l adds pixels l, l + 16, l + 32, ... in that order), adds
  the lanes up in a fixed tree (lane q plus lane q + 8, then q + 4, q + 2, q + 1), then adds the bias;
- a weight's gradient sums its batch rows' products in row order, and so does the bias's;
- a softmax sums its ten exponentials in digit order;
- the two-layer net's output sums its hidden units' products in unit order, then adds the bias, and its weights'
  gradients sum their batch rows' products in row order. Its hidden units are rows of the block like any other
  (30 a run), so their logits and gradients are summed as above.

Each `s = s + x * w` is a float32 multiply then a float32 add (numba adds no fused multiply-add or reordering
unless told to), so grouping runs or rows changes how often a partial sum goes to memory and back (exactly),
never which additions happen in which order. That is what makes a run's records the same bits alone (a block of
one, `engine.train`) or among 100 companions.

Why lanes: 16 lanes are two of this CPU's 8-float vectors, so a logit's sum runs down the image's row as it lies
in memory. A batch is then read once from memory, a few images at a time (CHUNK), for both the logits and the
gradients, while those images are still in cache: the whole epoch costs about one pass over the images, as
torch's two matrix products do.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from digitviz.blocks import TEN  # cross_entropy's run has ten rows of weights, one per digit
from digitviz.init import PIXELS

LANES = 16  # a logit's partial sums, two 8-float vectors; 784 pixels are 49 of them
ROWS = 4  # images a pass over a run's weights (or its gradient's partial sums) serves: fewer loads and stores
CHUNK = 16  # images taken forward, then backward, while they are still in cache (about 50 kB)
LOSS_CODES = {"mnist_loss": 0, "first_attempt": 1, "bce": 2, "cross_entropy": 3}
CROSS_ENTROPY = LOSS_CODES["cross_entropy"]


def _jit(func):
    """njit, compiled once to numba's on-disk cache; where no cache directory is writable, compiled per process."""
    try:
        return njit(cache=True, nogil=True, boundscheck=False)(func)
    except RuntimeError:  # numba found nowhere to write its cache: not beside the package, nor in the user's home
        return njit(nogil=True, boundscheck=False)(func)


def _logits_ir(images):
    """An intrinsic: z[j + r] = x[i + r] . w + bias for r < images, each summed as the module's docstring says (16
    lanes, then the fixed tree, then the bias). Written in LLVM's vector IR, so that the 16 lanes of every image
    stay in two vector registers for the whole row; numba's loop kept them in memory (for all LLVM could tell they
    might alias the images) and stored them back after every multiply-add. Each lane step is a float32 multiply then
    a float32 add, as everywhere in this module."""
    @intrinsic
    def logits(typingctx, x, i, w, bias, z, j):
        # The IR below steps through memory itself: only C-contiguous float32 rows of 784 pixels will do.
        rows = (x, 2), (w, 1), (z, 1)
        if not all(isinstance(a, types.Array) and a.dtype == types.float32 and a.layout == "C" and a.ndim == n
                   for a, n in rows) or not all(isinstance(n, types.Integer) for n in (i, j)):
            raise TypingError(f"_logits_ir wants C-contiguous float32 images (n, {PIXELS}), weights and logits")

        def codegen(context, builder, signature, args):
            xty, ity, wty, bty, zty, jty = signature.args
            xs = context.make_array(xty)(context, builder, args[0]).data
            ws = context.make_array(wty)(context, builder, args[2]).data
            zs = context.make_array(zty)(context, builder, args[4]).data
            first, at_z = (context.cast(builder, args[k], ty, types.int64) for k, ty in ((1, ity), (5, jty)))
            bias = context.cast(builder, args[3], bty, types.float32)
            f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
            vec = ir.VectorType(f32, 8)
            xs = builder.gep(xs, [builder.mul(first, ir.Constant(i64, PIXELS))])

            def load(base, offset):
                return builder.load(builder.bitcast(builder.gep(base, [offset]), vec.as_pointer()), align=4)

            def halves(v, n):  # (v[:n], v[n:2n])
                low = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, n), list(range(n))))
                high = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, n), list(range(n, 2 * n))))
                return low, high

            entry = builder.block
            loop, done = builder.append_basic_block("lanes"), builder.append_basic_block("lanes.done")
            builder.branch(loop)
            builder.position_at_end(loop)
            p = builder.phi(i64)
            p.add_incoming(ir.Constant(i64, 0), entry)
            sums = [[builder.phi(vec) for _ in range(2)] for _ in range(images)]
            new = [[None, None] for _ in range(images)]
            for half in range(2):  # lanes 0-7, then 8-15
                at = builder.add(p, ir.Constant(i64, 8 * half))
                wv = load(ws, at)
                for r in range(images):
                    sums[r][half].add_incoming(ir.Constant(vec, [0.0] * 8), entry)
                    xv = load(xs, builder.add(at, ir.Constant(i64, r * PIXELS)))
                    new[r][half] = builder.fadd(sums[r][half], builder.fmul(xv, wv))
            following = builder.add(p, ir.Constant(i64, LANES))
            p.add_incoming(following, builder.block)
            for r in range(images):
                for half in range(2):
                    sums[r][half].add_incoming(new[r][half], builder.block)
            builder.cbranch(builder.icmp_signed("<", following, ir.Constant(i64, PIXELS)), loop, done)
            builder.position_at_end(done)
            for r in range(images):  # the lanes' tree: lane q plus lane q + 8, then + 4, + 2, + 1
                v = builder.fadd(new[r][0], new[r][1])
                for n in (4, 2):
                    v = builder.fadd(*halves(v, n))
                logit = builder.fadd(builder.extract_element(v, ir.Constant(i32, 0)),
                                     builder.extract_element(v, ir.Constant(i32, 1)))
                at = builder.add(at_z, ir.Constant(i64, r))
                builder.store(builder.fadd(logit, bias), builder.gep(zs, [at]))
            return context.get_dummy_value()
        return types.void(x, i, w, bias, z, j), codegen
    return logits


_logits_rows, _logits_row = _logits_ir(ROWS), _logits_ir(1)


@_jit
def _logits(x, r0, r1, W, b, Z, z0):
    """Z[k, z0 + i - r0] = x[i] . W[k] + b[k] for rows r0:r1 of x, ROWS rows at a time, then one by one."""
    i = r0
    while i < r1:  # a few images at a time against every run's weights: the images stay in L1 for all of them
        rows = ROWS if i + ROWS <= r1 else 1
        for k in range(W.shape[0]):
            if rows == ROWS:
                _logits_rows(x, i, W[k], b[k], Z[k], z0 + i - r0)
            else:
                _logits_row(x, i, W[k], b[k], Z[k], z0 + i - r0)
        i += rows


@_jit
def forward(x, r0, r1, W, b, Z, z0):
    """Z[k, z0:z0 + n] = x @ W[k] + b[k] for rows r0:r1 of the images x (N, 784); W is (K, 784).

    CHUNK images at a time, for every run: each image is read from memory once, whatever K is."""
    for c in range(r0, r1, CHUNK):
        _logits(x, c, min(r1, c + CHUNK), W, b, Z, z0 + c - r0)


@_jit
def _backward_run(x, r0, r1, d, g):
    """g += x.T @ d for rows r0:r1 of x (N, 784): row i's product added in row order."""
    i = r0
    while i + ROWS <= r1:
        d0, d1, d2, d3 = d[i - r0], d[i - r0 + 1], d[i - r0 + 2], d[i - r0 + 3]
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        for p in range(PIXELS):
            s = g[p]
            s = s + x0[p] * d0
            s = s + x1[p] * d1
            s = s + x2[p] * d2
            s = s + x3[p] * d3
            g[p] = s
        i += ROWS
    for j in range(i, r1):
        dj, xj = d[j - r0], x[j]
        for p in range(PIXELS):
            g[p] = g[p] + xj[p] * dj


@_jit
def _backward_pair(x, r0, r1, da, db, ga, gb):
    """_backward_run for two runs, each load of x serving both: the same additions, in the same order."""
    i = r0
    while i + ROWS <= r1:
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
        i += ROWS
    for j in range(i, r1):
        aj, bj, xj = da[j - r0], db[j - r0], x[j]
        for p in range(PIXELS):
            ga[p] = ga[p] + xj[p] * aj
            gb[p] = gb[p] + xj[p] * bj


@_jit
def _backward_quad(x, r0, r1, dZ, k, d0, G):
    """_backward_run for runs k to k + 3, each load of x serving all four: the same additions, in the same order."""
    i = r0
    ga, gb, gc, gd = G[k], G[k + 1], G[k + 2], G[k + 3]
    while i + ROWS <= r1:
        j = d0 + i - r0
        a0, a1, a2, a3 = dZ[k, j], dZ[k, j + 1], dZ[k, j + 2], dZ[k, j + 3]
        b0, b1, b2, b3 = dZ[k + 1, j], dZ[k + 1, j + 1], dZ[k + 1, j + 2], dZ[k + 1, j + 3]
        c0, c1, c2, c3 = dZ[k + 2, j], dZ[k + 2, j + 1], dZ[k + 2, j + 2], dZ[k + 2, j + 3]
        e0, e1, e2, e3 = dZ[k + 3, j], dZ[k + 3, j + 1], dZ[k + 3, j + 2], dZ[k + 3, j + 3]
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        for p in range(PIXELS):
            s, t, u, v = ga[p], gb[p], gc[p], gd[p]
            s = s + x0[p] * a0
            t = t + x0[p] * b0
            u = u + x0[p] * c0
            v = v + x0[p] * e0
            s = s + x1[p] * a1
            t = t + x1[p] * b1
            u = u + x1[p] * c1
            v = v + x1[p] * e1
            s = s + x2[p] * a2
            t = t + x2[p] * b2
            u = u + x2[p] * c2
            v = v + x2[p] * e2
            s = s + x3[p] * a3
            t = t + x3[p] * b3
            u = u + x3[p] * c3
            v = v + x3[p] * e3
            ga[p], gb[p], gc[p], gd[p] = s, t, u, v
        i += ROWS
    for m in range(i, r1):
        j = d0 + m - r0
        a0, b0, c0, e0, xi = dZ[k, j], dZ[k + 1, j], dZ[k + 2, j], dZ[k + 3, j], x[m]
        for p in range(PIXELS):
            ga[p] = ga[p] + xi[p] * a0
            gb[p] = gb[p] + xi[p] * b0
            gc[p] = gc[p] + xi[p] * c0
            gd[p] = gd[p] + xi[p] * e0


@_jit
def _add_gradients(x, r0, r1, dZ, d0, G):
    """G[k] += x[r0:r1].T @ dZ[k, d0:d0 + r1 - r0], row by row in order, each load of x serving four runs."""
    K, n = G.shape[0], r1 - r0
    k = 0
    while k + 4 <= K:
        _backward_quad(x, r0, r1, dZ, k, d0, G)
        k += 4
    if k + 2 <= K:
        _backward_pair(x, r0, r1, dZ[k, d0:d0 + n], dZ[k + 1, d0:d0 + n], G[k], G[k + 1])
        k += 2
    if k < K:
        _backward_run(x, r0, r1, dZ[k, d0:d0 + n], G[k])


@_jit
def _bias_gradients(dZ, n, gb):
    """gb[k] = sum(dZ[k, :n]), in row order."""
    for k in range(dZ.shape[0]):
        s = np.float32(0)
        for i in range(n):
            s = s + dZ[k, i]
        gb[k] = s


@_jit
def backward(x, r0, r1, dZ, G, gb):
    """G[k] = x.T @ dZ[k] and gb[k] = sum(dZ[k]) over rows r0:r1 of x, each summed in row order."""
    G[:] = 0
    _add_gradients(x, r0, r1, dZ, 0, G)
    _bias_gradients(dZ, r1 - r0, gb)


@_jit
def _sigmoid(z):
    return np.float32(1) / (np.float32(1) + np.exp(-z))


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
def _softmax_score(Z, r, i, y, e):
    """Image i's ten logits, rows r:r + 10 of Z (one run's): e[c] = exp(z[c] - the largest); returns (the sum of e
    in digit order, its cross-entropy as losses.py defines it, 1 if the largest logit is the label's). A softmax's
    probabilities are e / that sum."""
    m, best = Z[r, i], 0
    for c in range(1, TEN):
        if Z[r + c, i] > m:
            m, best = Z[r + c, i], c
    s = np.float32(0)
    for c in range(TEN):
        e[c] = np.exp(Z[r + c, i] - m)
        s = s + e[c]
    label = int(y)
    return s, np.log(np.float64(s)) - (np.float64(Z[r + label, i]) - np.float64(m)), np.float64(best == label)


@_jit
def loss_grads(Z, c0, c1, batch, y, signed, loss, dZ, totals):
    """dZ[:, c0:c1] = d(loss)/dz for the logits Z[:, c0:c1] of a batch of `batch` images with targets y (and
    signed); adds their losses and right answers to totals[run], in image order (float64). A run is one row of Z,
    or ten (cross_entropy: one per digit)."""
    e = np.empty(TEN, np.float32)
    for k in range(totals.shape[0]):
        total, right = totals[k, 0], totals[k, 1]
        for i in range(c0, c1):
            if loss == CROSS_ENTROPY:  # softmax minus the one-hot target, over the batch size
                r, label = TEN * k, int(y[i])
                s, lost, hit = _softmax_score(Z, r, i, y[i], e)
                for c in range(TEN):
                    dZ[r + c, i] = (e[c] / s - np.float32(c == label)) / np.float32(batch)
            else:
                dZ[k, i], lost, hit = _grad_and_score(Z[k, i], y[i], signed[i], batch, loss)
            total, right = total + lost, right + hit
        totals[k, 0], totals[k, 1] = total, right


@_jit
def scores(Z, y, loss, totals):
    """totals[run] = (summed loss, right answers) of each run's logits Z against targets y, in image order."""
    totals[:] = 0
    e = np.empty(TEN, np.float32)
    for k in range(totals.shape[0]):
        for i in range(Z.shape[1]):
            if loss == CROSS_ENTROPY:
                _, lost, hit = _softmax_score(Z, TEN * k, i, y[i], e)
            else:
                _, lost, hit = _grad_and_score(Z[k, i], y[i], np.float32(0), 1, loss)
            totals[k, 0] += lost
            totals[k, 1] += hit


@_jit
def sgd_step(W, b, G, gb, lr):
    """Each row's step, at its run's rate: W[k] -= lr[k] * G[k], b[k] -= lr[k] * gb[k]."""
    for k in range(W.shape[0]):
        for p in range(PIXELS):
            W[k, p] = W[k, p] - lr[k] * G[k, p]
        b[k] = b[k] - lr[k] * gb[k]


@_jit
def _head_out(H, c0, c1, V, c, Zo):
    """The two-layer net's output for images c0:c1: the ReLU on its hidden logits H (rows k * units + u), in place,
    then Zo[k, i] = the sum over units u, in order, of H[k * units + u, i] * V[k, u], plus c[k]."""
    units = V.shape[1]
    for k in range(V.shape[0]):
        for i in range(c0, c1):
            s = np.float32(0)
            for u in range(units):
                a = H[k * units + u, i]
                if a < 0:  # not `max`: a NaN (a run blowing up) stays NaN, as torch's relu keeps it
                    a = np.float32(0)
                    H[k * units + u, i] = a
                s = s + a * V[k, u]
            Zo[k, i] = s + c[k]


@_jit
def head_out(H, V, c, Zo):
    """_head_out for every image: the two-layer net's outputs Zo (runs, n) from its hidden logits H (rows, n)."""
    _head_out(H, 0, H.shape[1], V, c, Zo)


@_jit
def _head_back(H, dZo, c0, c1, V, dH, gV):
    """Back through the two-layer net's output layer for images c0:c1: dH = dZo * V times the ReLU's mask (1 where
    it let the unit through, else 0: as torch's `* (h > 0)`, so an infinite product on a unit that was off gives NaN
    there too), and gV[k, u] += H[k * units + u, i] * dZo[k, i], in image order. V is the weights before this
    batch's step."""
    units = V.shape[1]
    for k in range(V.shape[0]):
        for u in range(units):
            r, v, g = k * units + u, V[k, u], gV[k, u]
            for i in range(c0, c1):
                a, d = H[r, i], dZo[k, i]
                dH[r, i] = (d * v) * np.float32(a > 0)
                g = g + a * d
            gV[k, u] = g


@_jit
def _head_step(V, c, gV, gc, lr):
    """The output layer's step, at each run's rate: V[k] -= lr[k] * gV[k], c[k] -= lr[k] * gc[k]."""
    for k in range(V.shape[0]):
        for u in range(V.shape[1]):
            V[k, u] = V[k, u] - lr[k] * gV[k, u]
        c[k] = c[k] - lr[k] * gc[k]


@_jit
def randperm(draws):
    """torch.randperm(len(draws) + 1) from its generator's 32-bit draws (digitviz.init.Generator.draws): torch's
    CPU loop, a swap of position i with a random one from i on, for every position but the last."""
    n = len(draws) + 1
    order = np.arange(n)
    for i in range(n - 1):
        z = i + np.int64(draws[i] % np.uint64(n - i))
        order[i], order[z] = order[z], order[i]
    return order


@_jit
def _gather(x, order, i0, i1, xb):
    """The shuffled batch order[i0:i1] of x, as rows of xb."""
    for j in range(i1 - i0):
        xb[j] = x[order[i0 + j]]


@_jit
def _batch(xs, s0, n, y, signed, W, b, lr, loss, Z, totals, dZ, G, gb, head):
    """One batch of SGD for every run: images s0:s0 + n of xs, with targets y (and signed) in the same order.

    CHUNK images at a time go forward, get their losses' gradients, and add theirs to G while still in cache. For
    two-layer runs, W and b are the hidden units and `head` their output layer (V (runs, units), c, each run's rate,
    and scratch: the outputs Zo and their gradients dZo (runs, bs), gV, gc): the ReLU and the output come between
    the hidden logits and the loss, and the output layer steps before the hidden units. A one-layer model's head
    is empty."""
    V, c, lr_out, Zo, dZo, gV, gc = head
    two = V.shape[1] > 0
    G[:] = 0
    gV[:] = 0
    for at in range(0, n, CHUNK):
        m = min(CHUNK, n - at)
        _logits(xs, s0 + at, s0 + at + m, W, b, Z, at)
        if two:
            _head_out(Z, at, at + m, V, c, Zo)
            loss_grads(Zo, at, at + m, n, y, signed, loss, dZo, totals)
            _head_back(Z, dZo, at, at + m, V, dZ, gV)
        else:
            loss_grads(Z, at, at + m, n, y, signed, loss, dZ, totals)
        _add_gradients(xs, s0 + at, s0 + at + m, dZ, at, G)
    _bias_gradients(dZ, n, gb)
    if two:
        _bias_gradients(dZo, n, gc)
        _head_step(V, c, gV, gc, lr_out)
    sgd_step(W, b, G, gb, lr)


@_jit
def train_epoch(x, order, y, signed, W, b, lr, loss, bs, totals, Z, dZ, G, gb, xb, head):
    """One epoch of SGD for every run of the block; totals gets each run's summed losses and right answers (runs,
    2), each image scored by its batch's logits before the batch's step. Z and dZ are scratch for a batch's logits
    and their gradients (rows, bs). `head` is the two-layer net's output layer (_batch), or empty arrays for the
    one-layer models.

    Without a shuffle (order empty) batches are slices of x; with one, they are gathered into xb.
    y and signed are in the epoch's order."""
    N = x.shape[0]
    totals[:] = 0
    for i0 in range(0, N, bs):
        n = min(N, i0 + bs) - i0
        yb, sb = y[i0:i0 + n], signed[i0:i0 + n]
        xs, s0 = x, i0
        if order.size != 0:
            _gather(x, order, i0, i0 + n, xb)
            xs, s0 = xb, 0
        _batch(xs, s0, n, yb, sb, W, b, lr, loss, Z, totals, dZ, G, gb, head)
