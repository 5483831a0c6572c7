"""Which signatures an export has follows from the task types, inputs and parents, not names."""

from __future__ import annotations

import dataclasses

from mtrec_tf.config import TaskConfig, default_tasks
from mtrec_tf.export.signature_tasks import SignatureTasks, signature_tasks
from serving.contract import SIGNATURES

RENAMED = {"query_category": "query_topic", "ctr": "click", "cvr": "buy", "next_item": "next",
           "image_category": "picture"}


def renamed(tasks):
    return tuple(dataclasses.replace(t, name=RENAMED[t.name], parent=RENAMED.get(t.parent)) for t in tasks)


def test_the_default_tasks_give_every_signature():
    served = signature_tasks(default_tasks()).signatures()
    assert set(served) == set(SIGNATURES)
    assert served["serving_default"] == ("ctr", "cvr")
    assert served["retrieve"] == served["user_embedding"] == served["item_embedding"] == ("next_item",)
    assert served["classify_query"] == ("query_category",) and served["image_category"] == ("image_category",)


def test_renamed_tasks_keep_every_signature():
    served = signature_tasks(renamed(default_tasks())).signatures()
    assert set(served) == set(SIGNATURES)
    assert served["serving_default"] == ("click", "buy")
    assert served["retrieve"] == ("next",)
    assert served["classify_query"] == ("query_topic",) and served["image_category"] == ("picture",)


def test_serving_default_needs_an_esmm_pair_whose_parent_is_the_click():
    user_item = ("user", "item")
    alone = [TaskConfig("ctr", "binary", "ctr", user_item), TaskConfig("cvr", "binary", "cvr", user_item)]
    assert signature_tasks(alone) == SignatureTasks()
    chain = [TaskConfig("buy", "binary", "buy", user_item, parent="cart"),
             TaskConfig("cart", "binary", "cart", user_item, parent="view"),
             TaskConfig("view", "binary", "ctr", user_item)]
    roles = signature_tasks(chain)
    assert (roles.click, roles.conversion) == ("view", "cart")  # the parent's output is p(click)


def test_classifiers_read_their_input_alone_and_retrieval_needs_a_catalogue():
    tasks = [TaskConfig("personal_topic", "multiclass", "query_category", ("query", "user")),
             TaskConfig("item_topic", "multiclass", "image_category", ("image", "item")),
             TaskConfig("topic", "multiclass", "query_category", ("query",)),
             TaskConfig("next", "retrieval", "next_item", ("user",))]
    roles = signature_tasks(tasks)
    assert (roles.query_classifier, roles.image_classifier, roles.retrieval) == ("topic", None, "next")
    assert set(roles.signatures()) == {"classify_query", "retrieve", "user_embedding", "item_embedding"}
    assert set(roles.signatures(has_catalogue=False)) == {"classify_query"}
