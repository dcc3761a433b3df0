"""The sample project's model: what a team keeps beside its rule files."""


def build():
    import keras

    keras.utils.set_random_seed(3)
    x = keras.Input((12,), name="features")
    h = keras.layers.Dense(24, activation="relu", name="fc1")(x)
    h = keras.layers.Dropout(0.2, name="drop1")(h)
    h = keras.layers.Dense(24, activation="relu", name="fc2")(h)
    h = keras.layers.Dropout(0.2, name="drop2")(h)
    return keras.Model(x, keras.layers.Dense(4, activation="softmax", name="scores")(h), name="sample")
