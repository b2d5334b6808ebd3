"""Forms of the members' review pages; they only shape input, the services decide what is allowed."""

from django import forms

from panel.review import COMMENT_MAX_LENGTH, QUESTION_MAX_LENGTH
from panel.rules import VoteChoice

VOTE_CHOICES = [(VoteChoice.APPROVE.value, "Approve"), (VoteChoice.DECLINE.value, "Decline"),
                (VoteChoice.ABSTAIN.value, "Abstain")]


class VoteForm(forms.Form):
    choice = forms.ChoiceField(label="Your vote", choices=VOTE_CHOICES, widget=forms.RadioSelect,
                               error_messages={"required": "Choose approve, decline or abstain.",
                                               "invalid_choice": "Choose approve, decline or abstain."})
    comment = forms.CharField(label="Comment", required=False, max_length=COMMENT_MAX_LENGTH,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="Your reasons, seen by the panel and kept with the vote.")


class CommentForm(forms.Form):
    body = forms.CharField(label="Add to the discussion", max_length=COMMENT_MAX_LENGTH,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           error_messages={"required": "Write the comment first."})


class ConflictForm(forms.Form):
    reason = forms.CharField(label="Conflict of interest", max_length=300,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="What the conflict is; you will no longer vote on this application.",
                             error_messages={"required": "Say what the conflict of interest is."})


class InformationRequestForm(forms.Form):
    question = forms.CharField(label="Question to the centre", max_length=QUESTION_MAX_LENGTH,
                               widget=forms.Textarea(attrs={"rows": 3}),
                               help_text="The review and its SLA clock pause until the centre answers.",
                               error_messages={"required": "Write the question first."})
