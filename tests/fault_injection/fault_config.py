import ml_collections


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "fault_experiment"
    c.units = 6
    c.cache = ""
    c.log = ""
    return c
