"""Capture a real PyTorch training loop into a cwrepro trace.

    cap = Capture("run.trace", model, optimizer, name="my-run", level="grads", seed=1234)
    for x, y in batches:
        optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()
        cap.step(loss, batch=(x, y))
    cap.evaluate(model, x_test, y_test)
    cap.close()

Names are the model's state_dict names (`1.weight`; `num_batches_tracked` left out), which for
an nn.Sequential are cwrepro's. Layouts are torch's, which are cwrepro's. The gradients and the
learning rate are taken when `optimizer.step()` runs (a step pre-hook), so `zero_grad()` or a
scheduler step before `cap.step` does not change what is captured; parameters and optimizer
state are read at `cap.step`. Tensors on any device are copied to the host.

Level `activations` adds, per top-level module i, `<i>.output` (forward hooks, training-mode
forwards only; the last forward before `cap.step` counts) and `<i>.grad_input` (full backward
hooks: dL/d(input of module i), last module first). So that module 0 has an input gradient, the
model's input is made to require gradients at this level (a pre-hook), as cwrepro records it.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..capture import CaptureBase, Parameter, write_step
from ..environment import base_environment
from ..errors import CaptureError, ShapeMismatchError, UnsupportedModelError
from ..hashing import canonical
from .modules import model_layers, optimizer_description

__all__ = ["Capture", "torch_environment"]


def _host(t, copy: bool = False) -> np.ndarray:
    """A tensor (any device, any float type) as a host numpy array; a private copy if `copy`."""
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
            t = t.float()  # float16, bfloat16: exact in float32
        if t.device.type != "cpu":
            return t.cpu().numpy()
        a = t.resolve_conj().resolve_neg().numpy()
        return a.copy() if copy else a
    return np.array(t, copy=True) if copy else np.asarray(t)


def torch_environment() -> Dict[str, str]:
    """torch's own facts: version, threads, CPU capability, BLAS/OpenMP build, determinism flags,
    CUDA / cuDNN / device when present."""
    env = base_environment()
    env["framework"] = f"torch {torch.__version__}"
    env["torch.version"] = torch.__version__
    env["torch.threads"] = str(torch.get_num_threads())
    env["torch.interop_threads"] = str(torch.get_num_interop_threads())
    try:
        env["torch.cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:
        pass
    env["torch.deterministic_algorithms"] = str(torch.are_deterministic_algorithms_enabled()).lower()
    env["torch.mkldnn"] = str(torch.backends.mkldnn.is_available()).lower()
    env["torch.mkl"] = str(torch.backends.mkl.is_available()).lower()
    env["torch.openmp"] = str(torch.backends.openmp.is_available()).lower()
    try:
        info = torch.__config__.parallel_info()
        for line in info.splitlines():
            line = line.strip()
            if line.startswith("ATen parallel backend:"):
                env["torch.parallel_backend"] = line.split(":", 1)[1].strip()
            elif "Math Kernel Library Version" in line:
                env["torch.mkl_version"] = line.split("Version", 1)[1].strip().split()[0]
            elif line.startswith("Intel(R) MKL-DNN") or line.startswith("oneDNN"):
                env["torch.onednn"] = line.split("(Git Hash")[0].strip()
            elif line.startswith("OpenMP "):
                env["torch.openmp_version"] = line
        for line in torch.__config__.show().splitlines():
            line = line.strip()
            if line.startswith("- CPU capability usage:"):
                env["torch.cpu_capability_usage"] = line.split(":", 1)[1].strip()
            elif line.startswith("- Build settings:"):
                settings = dict(kv.strip().split("=", 1) for kv in line.split(":", 1)[1].split(", ") if "=" in kv)
                for k in ("BLAS_INFO", "LAPACK_INFO", "COMMIT_SHA"):
                    if settings.get(k):
                        env[f"torch.build.{k.lower()}"] = settings[k]
    except Exception:  # torch.__config__ is informational; its text format is not an API
        pass
    if torch.version.cuda:
        env["torch.cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        env["torch.cudnn"] = str(torch.backends.cudnn.version())
        env["torch.cudnn.deterministic"] = str(torch.backends.cudnn.deterministic).lower()
        env["torch.cudnn.benchmark"] = str(torch.backends.cudnn.benchmark).lower()
        env["torch.cuda.matmul.allow_tf32"] = str(torch.backends.cuda.matmul.allow_tf32).lower()
        env["torch.cudnn.allow_tf32"] = str(torch.backends.cudnn.allow_tf32).lower()
    if getattr(torch.version, "hip", None):
        env["torch.hip"] = torch.version.hip
    return env


def _device_environment(model: nn.Module) -> Dict[str, str]:
    env = {}
    p = next(iter(model.parameters()), None)
    dev = p.device if p is not None else torch.device("cpu")
    env["device"] = str(dev)
    if dev.type == "cuda":
        i = dev.index if dev.index is not None else torch.cuda.current_device()
        prop = torch.cuda.get_device_properties(i)
        env["device.name"] = prop.name
        env["device.capability"] = f"{prop.major}.{prop.minor}"
        try:
            import subprocess
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                env["device.driver"] = out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    elif dev.type == "mps":
        env["device.name"] = "Apple MPS"
    else:
        env["device.name"] = env.get("cpu.model", "cpu")
    return env


class Capture(CaptureBase):
    """Captures a torch training loop into a trace (see the module doc).

    Args:
        path: the trace file to write (overwritten).
        model: the nn.Module being trained (an nn.Sequential of supported modules gets a cwrepro
            layer list; others need `strict=False`).
        optimizer: its torch.optim.Optimizer (SGD, Adam, AdamW, RMSprop at levels grads and
            activations; any optimizer at level params).
        name: the run's name. level: "params", "grads" (default) or "activations".
        seed: the seed the script used (recorded, not applied).
        keep_tensors: store full values for initialisation and the first keep_tensors - 1 steps
            (0: none, -1: every step), as cwrepro's record.keepTensors.
        steps_per_epoch: derive each step's epoch as step // steps_per_epoch (else pass epoch= to
            step(), or every step is epoch 0).
        strict: refuse (UnsupportedModelError) a model without a cwrepro layer list; with False it
            is captured with `layers: null` (comparable with other captures, not with cwrepro).
    """

    def __init__(self, path, model: nn.Module, optimizer: torch.optim.Optimizer, *, name: str = "run", level: str = "grads",
                 seed: Optional[int] = None, keep_tensors: int = 0, steps_per_epoch: Optional[int] = None, strict: bool = True):
        super().__init__(path, name=name, level=level, seed=seed, keep_tensors=keep_tensors, steps_per_epoch=steps_per_epoch)
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.model, self.optimizer = model, optimizer
        layers, note, self._reshapes = model_layers(model)
        if layers is None and strict:
            raise UnsupportedModelError(f"{note}. Pass strict=False to capture it anyway (its trace then has no layer list "
                                        "and compares with other captures, not with cwrepro's engine)")
        opt_desc = optimizer_description(optimizer, self.level)
        self._state_names: List[str] = opt_desc["stateNames"]

        # Canonical parameters: the state_dict in order, without num_batches_tracked.
        self._entries: List[Tuple[Parameter, torch.Tensor]] = []
        for key, value in model.state_dict(keep_vars=True).items():
            if key.endswith("num_batches_tracked"):
                continue
            trainable = isinstance(value, nn.Parameter) and value.requires_grad
            self._entries.append((Parameter(key, value.shape, trainable), value))
        self._trainable = [(p, v) for p, v in self._entries if p.trainable]
        owned = {id(p) for g in optimizer.param_groups for p in g["params"]}
        missing = [p.name for p, v in self._trainable if id(v) not in owned]
        if missing and self.level != "params":
            raise CaptureError(f"parameters {', '.join(missing)} require gradients but are not in the optimizer; "
                               "give the optimizer every trainable parameter, or set requires_grad=False on them")

        env = torch_environment()
        env.update(_device_environment(model))
        header = {"framework": {"name": "torch", "version": torch.__version__},
                  "model": {"class": f"{type(model).__module__}.{type(model).__name__}", "layers": layers, "note": note,
                            "parameters": [p.header() for p, _ in self._entries]},
                  "optimizer": opt_desc, "environment": env}

        self._handles = []
        self._stepped = False
        self._lr: Optional[float] = None
        self._grads: List[Tuple[str, np.ndarray]] = []
        self._outputs: List[Tuple[str, np.ndarray]] = []
        self._grad_inputs: List[Tuple[str, np.ndarray]] = []
        self._children: List[Tuple[str, nn.Module]] = []
        if self.level == "activations":
            self._children = self._hookable_children()

        # Every check done and the trace opened, then the hooks: a failed constructor leaves the
        # model and the optimizer as they were.
        self._start(header, [(p.name, canonical(_host(v), what=p.name)) for p, v in self._entries])
        try:
            self._install_hooks()
        except BaseException as e:
            self.close(error=f"{type(e).__name__}: {e}")
            raise

    # -- hooks -------------------------------------------------------------------------------

    def _on_optimizer_step(self, optimizer, args, kwargs):
        if self.closed:
            return None
        self._stepped = True
        self._lr = float(_host(optimizer.param_groups[0]["lr"])) if isinstance(optimizer.param_groups[0]["lr"], torch.Tensor) \
            else float(optimizer.param_groups[0]["lr"])
        if self.wants("grad"):
            self._grads = []
            for p, v in self._trainable:
                g = v.grad
                a = np.zeros(p.shape, np.float32) if g is None else canonical(_host(g, copy=True), what=p.name + " grad")
                self._grads.append((p.name, a))
        return None

    def _hookable_children(self) -> List[Tuple[str, nn.Module]]:
        """The model's top-level modules, which level activations hooks; refuses what it cannot hook."""
        children = list(self.model.named_children())
        if not children:
            raise UnsupportedModelError(f"level activations: {type(self.model).__name__} has no child modules to hook")
        for name, m in children:
            if getattr(m, "inplace", False):
                raise UnsupportedModelError(f"level activations: module {name} ({m}) works in place, which full backward "
                                            "hooks cannot observe; construct it with inplace=False")
        return children

    def _install_hooks(self):
        """The optimizer step (grads and lr as used), and at level activations the modules."""
        self._handles.append(self.optimizer.register_step_pre_hook(self._on_optimizer_step))
        if self.level == "activations":
            self._install_activation_hooks()

    def _install_activation_hooks(self):
        self._out_shapes: Dict[str, Tuple[int, ...]] = {}
        self._input_shape: Optional[Tuple[int, ...]] = None
        self._handles.append(self.model.register_forward_pre_hook(self._on_model_forward))
        index = {name: i for i, (name, _) in enumerate(self._children)}
        for name, m in self._children:
            self._handles.append(m.register_forward_hook(self._forward_hook(name)))
            self._handles.append(m.register_full_backward_hook(self._backward_hook(name, index[name])))

    def _on_model_forward(self, module, args):
        if not module.training or not torch.is_grad_enabled() or self.closed:
            return None
        self._outputs, self._grad_inputs = [], []
        if args and isinstance(args[0], torch.Tensor):
            x = args[0]
            self._input_shape = tuple(x.shape)
            if not x.requires_grad and x.is_floating_point():
                return (x.detach().requires_grad_(True),) + tuple(args[1:])
        return None

    def _forward_hook(self, name: str) -> Callable:
        def hook(module, args, output):
            if not self.model.training or not torch.is_grad_enabled() or self.closed:
                return
            if not isinstance(output, torch.Tensor):
                raise UnsupportedModelError(f"level activations: module {name} returned {type(output).__name__}, not a tensor")
            a = canonical(_host(output, copy=True), what=f"{name}.output")
            reshape = self._reshapes.get(name)
            if reshape is not None:
                a = reshape(a)
            self._out_shapes[name] = a.shape
            self._outputs.append((f"{name}.output", a))
        return hook

    def _backward_hook(self, name: str, i: int) -> Callable:
        def hook(module, grad_input, grad_output):
            if self.closed or not grad_input or grad_input[0] is None:
                return None
            a = canonical(_host(grad_input[0], copy=True), what=f"{name}.grad_input")
            # dL/d(input of module i) in the shape cwrepro gives that input: the previous module's
            # captured output shape (only a reshaped output, e.g. AdaptiveAvgPool2d's, differs).
            prev = self._out_shapes.get(self._children[i - 1][0]) if i > 0 else None
            if prev is not None and int(np.prod(prev)) == a.size:
                a = a.reshape(prev)
            self._grad_inputs.append((f"{name}.grad_input", a))
            return None
        return hook

    # -- API ---------------------------------------------------------------------------------

    def _host(self, value) -> np.ndarray:
        return _host(value)

    def step(self, loss, batch=None, *, epoch: Optional[int] = None, lr: Optional[float] = None):
        """Captures one training step, after `optimizer.step()`: batch (x, y), [activations],
        loss, [input gradients], gradients, parameters after the update, optimizer state.

        Args:
            loss: the step's loss (a scalar tensor; float32 in the trace).
            batch: (x, y) the model was trained on (x as the model saw it, y integer labels); None
                leaves batch.x and batch.y out.
            epoch: this step's epoch (default: step // steps_per_epoch, or the last given).
            lr: the learning rate used (default: the first parameter group's at optimizer.step()).
        """
        self._check_open("step")
        if not self._stepped:
            raise CaptureError(f"step {self.step_index}: optimizer.step() was not called since the last cap.step(); "
                               "call cap.step(loss, batch=...) after optimizer.step() (grads and lr are taken there)")
        if self.level == "activations" and not self._outputs:
            raise CaptureError(f"step {self.step_index}: level activations saw no training-mode forward pass of the model "
                               "since the last step (call model(x) with the model in train mode)")
        loss32 = self._loss32(loss)
        x, y = self._batch_tensors(batch) if batch is not None else (None, None)
        params = [(p.name, canonical(_host(v), what=p.name)) for p, v in self._entries]
        states = []
        if self.wants("optimizer-state"):
            for s in self._state_names:
                for p, v in self._trainable:
                    t = self.optimizer.state.get(v, {}).get(s)
                    a = np.zeros(p.shape, np.float32) if t is None else canonical(_host(t), what=f"{p.name}.{s}")
                    states.append((f"{p.name}.{s}", a))
        write_step(self, x=x, y=y, outputs=self._outputs, loss=loss32, grad_inputs=self._grad_inputs,
                   grads=self._grads if self.wants("grad") else [], params=params, states=states,
                   epoch=self._epoch_for(epoch), lr=lr if lr is not None else self._lr)
        self._stepped = False
        self._grads, self._outputs, self._grad_inputs = [], [], []

    def evaluate(self, model: Optional[nn.Module] = None, x=None, y=None, *, split: str = "test",
                 batch_size: Optional[int] = None) -> dict:
        """Evaluates `model` (default: the captured one) on (x, y) in eval mode without gradients
        and writes an evaluation line: predictions (cwrepro's argmax), accuracy, per-class
        accuracy, the hash of the int32 predictions, the mean cross-entropy. Restores the
        model's training mode. `batch_size`: forward in chunks of that many
        samples (a positive integer; None: all at once). `split` names the data (non-empty); each
        split is evaluated at most once after a step (a record holds one evaluation per step and
        split). Returns the evaluation as written."""
        batch_size = self._check_evaluate(split, batch_size)
        model = self.model if model is None else model
        if x is None or y is None:
            raise TypeError("evaluate(model, x, y): x and y are required")
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
        xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
        yt = y if isinstance(y, torch.Tensor) else torch.from_numpy(np.asarray(y))
        if yt.ndim != 1 or xt.shape[0] != yt.shape[0]:
            raise ShapeMismatchError(f"evaluate: {xt.shape[0]} samples in x, y has shape {list(yt.shape)}; "
                                     "expected one class label per sample")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                n = xt.shape[0]
                step = batch_size or max(1, n)
                logits = torch.cat([model(xt[i:i + step].to(device)) for i in range(0, n, step)]) if n else \
                    model(xt.to(device))
                if logits.ndim != 2:
                    raise CaptureError(f"evaluate: the model returned shape {list(logits.shape)}; expected [samples, classes] logits")
                k = logits.shape[1]
                if n and (int(yt.min()) < 0 or int(yt.max()) >= k):
                    raise ShapeMismatchError(f"evaluate: labels {int(yt.min())}..{int(yt.max())} outside the model's {k} classes")
                loss = torch.nn.functional.cross_entropy(logits.float(), yt.to(device).long()) if n else None
        finally:
            model.train(was_training)
        return self._write_evaluation(_host(logits), _host(yt), None if loss is None else _host(loss), split, logits.shape[1])

    def _finish(self):
        for h in self._handles:
            h.remove()
        self._handles = []
