import math


def mean(values):
    """Arithmetic mean of a non-empty list."""
    return sum(values) / 


def stdev(values):
    """Population standard deviation."""
    m = mean(values)
    return math.sqrt(sum((x - m) ** 2 for x in values) / len(values))


if __name__ == "__main__":
    data = [2, 4, 4, 4, 5, 5, 7, 9]
    print(mean(data), stdev(data))
