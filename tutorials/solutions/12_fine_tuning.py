"""Chapter 12 exercises: freezing and parameter groups."""


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freeze_all_but_last(model):
    children = list(model.children())
    for child in children[:-1]:
        child.requires_grad_(False)
    children[-1].requires_grad_(True)
    return model


def param_groups(base, head, lr, base_factor=0.1):
    return [{"params": list(base.parameters()), "lr": lr * base_factor},
            {"params": list(head.parameters()), "lr": lr}]
